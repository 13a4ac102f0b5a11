"""One `run_*` per experiment: a spec in, a plain result out; nothing printed."""
