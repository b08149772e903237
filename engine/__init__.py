"""The DiffSynth engine: job spec, models, the denoising loop, deflicker, worker and CLI.

Runs in its own process (``python -m <package>.engine``) so Blender never blocks on it.
Never imports bpy.
"""
