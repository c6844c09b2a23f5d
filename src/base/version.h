// herd's version: `herd --version`, the server's /api/version ("herd_version") and
// the installed package files. Bumped by hand when a release is tagged.
#pragma once

namespace herd {

inline constexpr const char* kVersion = "0.5.0";

}  // namespace herd
