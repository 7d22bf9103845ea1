#include "hooks/cli/hook_exe.hpp"

int main(int argc, char** argv) {
  return portcullis::hooks::cli::hook_main(argc, argv);
}
