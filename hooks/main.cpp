#include "hooks/command.hpp"

int main(int argc, char** argv) {
  return portcullis::hooks::main(argc, argv);
}
