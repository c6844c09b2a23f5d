// prompt_shield_inputs (see prompt_shield.h).
#include "prompt_shield.h"

namespace herd::server {

PromptShieldInputs prompt_shield_inputs(const std::vector<chat::Message>& messages) {
  PromptShieldInputs in;
  for (size_t i = messages.size(); i-- > 0;) {
    const chat::Message& m = messages[i];
    if (m.role == "tool" || m.role == "ipython") {
      if (!m.content.empty()) in.third_party.push_back(m.content);
      continue;
    }
    break;  // the trailing tool results end at the first other turn
  }
  for (size_t i = messages.size(); i-- > 0;) {
    if (messages[i].role == "user") {
      if (!messages[i].content.empty()) in.user.push_back(messages[i].content);
      break;
    }
  }
  return in;
}

}  // namespace herd::server
