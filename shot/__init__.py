"""From render passes to what the engine needs: control images, guide frames and motion.

Plain numpy, no bpy and no OpenCV, so it runs inside Blender's Python (where the passes are
rendered) and in tests anywhere.
"""
