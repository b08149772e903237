"""From render passes to what the engine needs: control images, guide frames and motion.

Plain numpy, no bpy, no OpenCV and no file formats: the engine reads the pass EXRs and writes
the results; this is the maths between, testable anywhere.
"""
