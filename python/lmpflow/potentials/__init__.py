"""ML potentials: the backend table, model files, the shipped models, the Potential and its resolver."""
