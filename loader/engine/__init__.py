"""One load from start to finish (record → lock → plan → method → record → clean), for the library call and the runner."""
