#pragma once
// Entry point of the `portcullisd` executable.
namespace portcullis::daemon {

int main(int argc, char** argv);

}  // namespace portcullis::daemon
