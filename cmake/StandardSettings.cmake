# Warnings and sanitizers as INTERFACE targets, linked PRIVATE to our own code only.
add_library(portcullis_warnings INTERFACE)
target_compile_options(portcullis_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  $<$<BOOL:${PORTCULLIS_WERROR}>:-Werror>)

add_library(portcullis_sanitizers INTERFACE)
set(_san "")
if(ENABLE_ASAN)
  list(APPEND _san address)
endif()
if(ENABLE_UBSAN)
  list(APPEND _san undefined)
endif()
if(ENABLE_TSAN)
  list(APPEND _san thread)
endif()
if(_san)
  list(JOIN _san "," _san_list)
  target_compile_options(portcullis_sanitizers INTERFACE -fsanitize=${_san_list}
    -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(portcullis_sanitizers INTERFACE -fsanitize=${_san_list})
endif()

add_library(portcullis_settings INTERFACE)
target_link_libraries(portcullis_settings INTERFACE portcullis_warnings portcullis_sanitizers)
target_include_directories(portcullis_settings INTERFACE ${PROJECT_SOURCE_DIR})

# Include root for consumers of our libraries (tests, executables).
add_library(portcullis_settings_public INTERFACE)
target_include_directories(portcullis_settings_public INTERFACE ${PROJECT_SOURCE_DIR})
