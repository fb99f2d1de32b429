// gtest main, plus the route-learning benchmark behind a flag:
//   xvr_routing_e2e_tests --bench-route-learn[=N] [--rcvbuf=BYTES] [--repeat=K]
// prints one JSON object per run and exits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "test/e2e/routing/route_learn_bench.h"
#include "test/e2e/routing/routing_lab.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '\0') return true;
  if (arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

int Bench(int argc, char** argv) {
  xvr::test::RouteLearnOptions opts;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "--bench-route-learn", &v)) {
      if (!v.empty() && !absl::SimpleAtoi(v, &opts.routes)) return 2;
    } else if (Flag(argv[i], "--rcvbuf", &v)) {
      if (!absl::SimpleAtoi(v, &opts.rcvbuf_bytes)) return 2;
    } else if (Flag(argv[i], "--repeat", &v)) {
      if (!absl::SimpleAtoi(v, &repeat)) return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "the benchmark needs root\n");
    return 1;
  }
  for (int i = 0; i < repeat; ++i) {
    auto r = xvr::test::RunRouteLearn(opts);
    if (!r.ok()) {
      std::fprintf(stderr, "route-learn: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    std::printf("%s\n", r->ToJson().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() == 0) xvr::test::CleanStaleLabs();
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--bench-route-learn", 19) == 0) return Bench(argc, argv);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
