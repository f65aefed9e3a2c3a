"""LAMMPS: the runtime (plugin, MPI), sessions from ASE atoms, run directories and runs."""
