// xvr-cni: the CNI plugin binary. Reads the CNI_* environment and the
// network config on stdin, prints the result or error on stdout, logs to
// stderr (warnings and errors unless the config's "logLevel" says more).
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <string>

#include "cni-plugin/env.h"
#include "cni-plugin/plugin.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

extern char** environ;

int main() {
  auto logger = spdlog::stderr_logger_st("xvr-cni");
  logger->set_pattern("xvr-cni[%P] %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);

  // VERSION may come with nothing on stdin; a terminal means nothing either.
  std::string stdin_data;
  if (!::isatty(STDIN_FILENO)) {
    stdin_data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const int rc = xvr::cni::Run(xvr::cni::EnvFromEnviron(environ), stdin_data, std::cout);
  std::cout.flush();
  return rc;
}
