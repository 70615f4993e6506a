"""The parity harness: one comparison helper, one tolerance policy, report writing, and the engine seam."""
