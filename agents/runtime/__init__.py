"""What the stage agents share: the faust app, its transport, tables, processes and broker."""
