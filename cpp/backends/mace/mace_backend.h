// lmpflow: MACE models exported for LAMMPS by mace-torch (create_lammps_model: TorchScript .mace.pt).
#ifndef LMPFLOW_MACE_BACKEND_H
#define LMPFLOW_MACE_BACKEND_H

#include "backends/backend.h"

namespace lmpflow {

std::unique_ptr<Backend> open_mace(const std::string &path, const std::string &device, int threads);

}    // namespace lmpflow
#endif
