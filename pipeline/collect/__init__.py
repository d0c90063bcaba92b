"""The collect stage: prediction events matched to collectors, run through their workflows."""
