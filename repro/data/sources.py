"""Where each dataset comes from and what our readers expect: one record per dataset.

``repro data list --layouts``, the data check before a run (:mod:`repro.data.requirements`) and
docs/data.md all say the same thing; this is the one place it is written down in code. Disk sizes
are estimates (file counts × typical file sizes), stated as such.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    url: str
    access: str  # how to obtain it: the licence / terms form
    download: str  # which parts of the official release to fetch
    disk: str  # download and converted sizes (estimates)
    layout: str  # the tree our reader expects under DATA_ROOT/<name>
    prepare: str  # the conversion command (DATA_ROOT = the suites' --data-root)
    source_arg: str  # what the prepare command's source argument is

    def prepare_command(self, data_root: str = "DATA_ROOT") -> str:
        return self.prepare.replace("DATA_ROOT", data_root)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="matterport3d",
            title="Matterport3D (Chang et al., 3DV 2017), stitched to equirectangular as UniFuse did",
            url="https://niessner.github.io/Matterport/",
            access="sign the Matterport3D Terms of Use (academic, non-commercial) and e-mail it to "
            "matterport3d@googlegroups.com; you receive download_mp.py",
            download="python download_mp.py -o MP --type matterport_skybox_images "
            "undistorted_depth_images undistorted_camera_parameters (all 90 scenes)",
            disk="download ≈ 60 GB (skyboxes ≈ 15 GB, depth ≈ 45 GB; estimate); converted ≈ 25 GB "
            "(10,800 panoramas, 1024x2048 JPEG + 16-bit PNG)",
            layout="matterport3d/\n"
            "  <scene>/pano_skybox_color/<pano>.jpg   RGB, 1024x2048\n"
            "  <scene>/pano_depth/<pano>.png          uint16, 4000 per metre, 0 = no return\n"
            "  (splits: UniFuse's lists, shipped; 7829 / 957 / 2014)",
            prepare="repro data prepare matterport3d --from MP/v1/scans --out DATA_ROOT",
            source_arg="the v1/scans folder download_mp.py wrote (per-scene zips or extracted folders)",
        ),
        Source(
            name="stanford2d3d",
            title="Stanford2D3D / 2D-3D-Semantics (Armeni et al., 2017), panoramas",
            url="http://buildingparser.stanford.edu/dataset.html",
            access="fill in the 2D-3D-S access form on the dataset page (agree to its terms of use, "
            "non-commercial research); the download links arrive by e-mail",
            download="the no-XYZ area archives area_1, area_2, area_3, area_4, area_5a, area_5b, area_6 "
            "(only pano/rgb and pano/depth are used)",
            disk="archives ≈ 100 GB for the 7 areas without XYZ (estimate); converted ≈ 35 GB "
            "(1,413 panoramas at 2048x4096, hard links when on the same file system: no extra space)",
            layout="stanford2d3d/\n"
            "  area_N/rgb_/camera_<id>_<room>_frame_equirectangular_domain_rgb.png\n"
            "  area_N/depth/camera_<id>_<room>_frame_equirectangular_domain_depth.png  uint16, 512 per metre, "
            "65535 = no return\n"
            "  (N = 1, 2, 3, 4, 5a, 5b, 6; splits: UniFuse's lists, shipped; 1000 / 40 / 373, test = area 5)",
            prepare="repro data prepare stanford2d3d --from S2D3S --out DATA_ROOT",
            source_arg="the folder holding the area_* folders (extracted) or area_*.tar archives",
        ),
        Source(
            name="structured3d",
            title="Structured3D (Zheng et al., ECCV 2020), panoramas",
            url="https://structured3d-dataset.org/",
            access="fill in the Structured3D Terms of Use agreement form on the website "
            "(non-commercial research); the download links arrive by e-mail",
            download="Structured3D_panorama_00.zip … Structured3D_panorama_17.zip (3,500 scenes)",
            disk="zips ≈ 180 GB (estimate); extracted (full/rgb_rawlight.png + full/depth.png only) ≈ 50 GB "
            "(21,835 rooms, 512x1024)",
            layout="structured3d/\n"
            "  scene_XXXXX/2D_rendering/<room>/panorama/full/rgb_rawlight.png\n"
            "  scene_XXXXX/2D_rendering/<room>/panorama/full/depth.png  uint16 millimetres, 0 = no return\n"
            "  (splits: scene ranges 0-2999 / 3000-3249 / 3250-3499)",
            prepare="repro data prepare structured3d --from S3D_ZIPS --out DATA_ROOT",
            source_arg="the folder holding the Structured3D_panorama_*.zip files",
        ),
        Source(
            name="spatialaudiogen",
            title="SpatialAudioGen YT-All (Morgado et al., NeurIPS 2018): frames of 360° YouTube videos",
            url="https://github.com/pedro-morgado/spatialaudiogen",
            access="no form: the release is a list of YouTube ids (meta/spatialaudiogen_db.lst, 1,146 videos, "
            "113 h); the videos stay their creators' copyright — fetch them yourself for research use only",
            download="the equirectangular ('ER') formats of the listed videos (their scraping/video_formats.txt "
            "says which; most are also offered as equi-angular cubemaps, which are not equirectangular)",
            disk="videos ≈ 250 GB at their original resolution (estimate; the authors quote > 500 GB with their "
            "preprocessed copies); frames ≈ 30 GB (≈ 344 K JPEGs at 512x1024)",
            layout="spatialaudiogen/\n"
            "  <video id>/<milliseconds>.jpg         equirect RGB frames (no depth)\n"
            "  spatialaudiogen_train.txt             the frame list the reader uses\n"
            "  frames.jsonl                          manifest: video, timestamp, frame, sha256\n"
            "  prepare.json                          the extraction settings (fps, size, dedup threshold)",
            prepare="repro data prepare spatialaudiogen --videos VIDEOS --out DATA_ROOT",
            source_arg="the folder of downloaded videos, named <youtube id>.<ext>",
        ),
    )
}


def layouts_text() -> str:
    """The ``repro data list --layouts`` text: per dataset, source, access, download, size, tree, command."""
    blocks = []
    for s in SOURCES.values():
        tree = "\n".join("    " + line for line in s.layout.splitlines())
        blocks.append(
            f"{s.name}: {s.title}\n"
            f"  source:   {s.url}\n"
            f"  access:   {s.access}\n"
            f"  download: {s.download}\n"
            f"  disk:     {s.disk}\n"
            f"  layout (under DATA_ROOT):\n{tree}\n"
            f"  convert:  {s.prepare}\n"
            f"            ({s.source_arg})"
        )
    return "\n\n".join(blocks) + "\n\nDetails: docs/data.md\n"
