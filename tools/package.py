"""``make package``: build the installable extension zip into dist/."""

import sys

from .extension_cli import REPO_ROOT, build_package


def main():
    zip_path = build_package(REPO_ROOT / "dist")
    print(f"Built and validated {zip_path}")
    print("Install: Blender › Edit › Preferences › Get Extensions › ⌄ › Install from Disk…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
