# qlab_add_plugin(NAME SOURCES...): builds libqlab_<NAME>.so against the plugin SDK, the same
# way inside qlab's tree and outside it (include this file, or find_package(qlab)).
# The plugin sees only plugins/sdk/include (plugin.h, plugin.hpp, groups.hpp, grid.hpp, half.hpp) and Eigen.
include_guard(GLOBAL)
# In the source tree the headers sit at ../include; an installed qlabConfig.cmake sets
# QLAB_SDK_INCLUDE_DIR to <prefix>/include before including this file.
if(NOT QLAB_SDK_INCLUDE_DIR AND EXISTS "${CMAKE_CURRENT_LIST_DIR}/../include/qlab/plugin.h")
  get_filename_component(_qlab_sdk_include "${CMAKE_CURRENT_LIST_DIR}/../include" ABSOLUTE)
  set(QLAB_SDK_INCLUDE_DIR "${_qlab_sdk_include}" CACHE INTERNAL "qlab plugin SDK headers")
endif()

function(qlab_add_plugin name)
  find_package(Eigen3 3.3 REQUIRED NO_MODULE)
  find_package(OpenMP)
  add_library(qlab_${name} MODULE ${ARGN})
  set_target_properties(qlab_${name} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "qlab_${name}"
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden      # only qlab_plugin_entry is exported
    VISIBILITY_INLINES_HIDDEN ON)
  target_include_directories(qlab_${name} PRIVATE ${QLAB_SDK_INCLUDE_DIR})
  target_link_libraries(qlab_${name} PRIVATE Eigen3::Eigen)
  if(OpenMP_CXX_FOUND)
    target_link_libraries(qlab_${name} PRIVATE OpenMP::OpenMP_CXX)
  endif()
endfunction()
