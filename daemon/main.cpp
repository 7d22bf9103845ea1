#include "daemon/daemon.hpp"

int main(int argc, char** argv) { return portcullis::daemon::main(argc, argv); }
