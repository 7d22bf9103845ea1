#include "hooks/cli/command.hpp"

int main(int argc, char** argv) {
  return portcullis::hooks::cli::main(argc, argv);
}
