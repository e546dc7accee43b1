"""Meta-learners and the machinery they need: meta-features, spaces, evaluation, recommenders, meta-learning."""
