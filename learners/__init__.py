"""Meta-learners and what they need: meta-features, spaces, evaluation, recommenders, meta-learning."""
