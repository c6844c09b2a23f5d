// Renders a Llama Guard 3 chat template (as released in the model's
// tokenizer_config.json; tests/golden/guard/*.jinja) with @huggingface/jinja,
// the Jinja implementation of transformers.js, for test_guard.sh to compare
// with `herd guard --print-prompt`. An independent renderer: it shares no code
// with herd.
//
//   node guard_template_peer.mjs TEMPLATE.jinja CASE.json > prompt.txt
//
// CASE.json: {"messages": [{"role", "content"}], "excluded": ["S6"]}. The 1B
// template reads content as a list of {"type": "text", "text"} parts and the
// excluded codes from excluded_category_keys; the 8B template reads content
// as a string and has no exclusions (a case with exclusions is not given to it).
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const [templatePath, casePath] = process.argv.slice(2);
const source = readFileSync(templatePath, "utf8");
const c = JSON.parse(readFileSync(casePath, "utf8"));
const partsTemplate = source.includes("selectattr('type', 'equalto', 'text')");
const messages = c.messages.map((m) => ({
  role: m.role,
  content: partsTemplate ? [{ type: "text", text: m.content }] : m.content,
}));
const out = new Template(source).render({
  messages,
  excluded_category_keys: c.excluded ?? [],
});  // raise_exception is the library's own (it throws)
process.stdout.write(out);
