"""Reports and detections becoming cases: routing, grouping, priority, moderation parsing and the
public report form."""
