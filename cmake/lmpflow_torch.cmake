# libtorch for the plugin, as the imported target lmpflow::torch. Torch's own CMake config appends
# its flags to a variable we do not apply globally: only the plugin target sees them.
if(NOT Torch_DIR AND NOT DEFINED ENV{Torch_DIR})
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c "import torch, os; print(torch.utils.cmake_prefix_path, end='')"
    OUTPUT_VARIABLE _torch_prefix RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "lmpflow: torch is not importable from ${Python3_EXECUTABLE}: pip install torch "
      "(CPU: torch==2.13.0) or pass -DTorch_DIR=<libtorch>/share/cmake/Torch")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
endif()
find_package(Torch REQUIRED)

add_library(lmpflow::torch INTERFACE IMPORTED)
target_link_libraries(lmpflow::torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(lmpflow::torch INTERFACE ${TORCH_INCLUDE_DIRS})
get_filename_component(LMPFLOW_TORCH_RPATH "${TORCH_INSTALL_PREFIX}/lib" ABSOLUTE)
