"""The one way a case changes state: the transition service, guards, SLA clocks, the deployed
workflows and their CLI."""
