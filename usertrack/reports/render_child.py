"""`python -m usertrack.reports.render_child`: renders one report template in this process, with
hard limits, for usertrack.reports.templating.render_isolated."""

from usertrack.reports.templating import serve

serve()
