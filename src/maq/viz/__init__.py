"""Pictures of maq's results: episode clips, learning curves and heatmaps.

* :mod:`maq.viz.render`: headless MuJoCo frames (``MUJOCO_GL=egl``), captions and side-by-side
  grids;
* :mod:`maq.viz.clip`: ``maq clip``, episodes of a human demo, agents and random actions from one
  initial state, written as GIF and MP4;
* :mod:`maq.viz.plots`: ``maq plot``, learning curves from run folders and the paper's heatmap from
  evaluation CSVs, as PNG and SVG.

matplotlib, imageio and mujoco's renderer are imported only inside these modules.
"""
