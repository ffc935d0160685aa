"""Quality: agreement metrics (pure), agreement reports, annotator reliability, routing of finished
items, adjudication by leads, gold items."""
