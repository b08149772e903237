"""The Blender side's logic with Blender left at the edge: checking a Stylize request, writing
the job, starting the engine process and the Stylize state machine. Never imports bpy: what it
needs from Blender (render the passes, add the strip, report) is handed to it, so it is tested
on plain fakes as well as in real Blender.
"""
