"""`python -m usertrack.dashboards.draw_child`: draws charts in this process, with hard limits,
for usertrack.dashboards.drawing.draw."""

from usertrack.dashboards.drawing import serve

serve()
