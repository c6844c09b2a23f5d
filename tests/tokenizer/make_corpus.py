#!/usr/bin/python3
"""Writes the tokenizer peer corpus, tests/tokenizer/corpus/*.jsonl.

Each output line is one JSON string (a text may itself hold CR, LF, tabs), encoded by
herd (`herd tokenize --jsonl`) and by the npm peers (tests/peers/tokenize_peers.mjs);
tests/e2e/test_tokenizer_peers.sh requires identical ids. Standard library only, fully
deterministic (fixed seeds, sorted sets), so re-running it reproduces the committed
files byte for byte:

    /usr/bin/python3 tests/tokenizer/make_corpus.py

Why the generated code points are restricted: herd's Unicode tables, Python's
unicodedata and node's ICU are different Unicode versions (e.g. 14.0 vs 17.0). A code
point assigned after Unicode 3.2 could be a letter for one and unassigned for another,
which would test the version skew, not the tokenizer. So every code point drawn from
unicodedata must be assigned in Unicode 3.2 (unicodedata.ucd_3_2_0) with the same
letter/number/other class there and now. Hand-written text (emoji included) is
unaffected: emoji are symbols (So) or unassigned in every version, both outside
\\p{L}/\\p{N}/\\s, so every tokenizer puts them in the same regex class.

Only valid Unicode scalar values appear (no lone surrogates): JSON strings in
JavaScript are UTF-16, and invalid UTF-8 has no JSON form; herd's behaviour on invalid
UTF-8, NUL and surrogates is covered by src/tokenizer/tokenizer_test.cpp and
src/tokenizer/tokenizer_fuzz.cpp instead.
"""
import json
import os
import random
import sys
import unicodedata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# ---------------------------------------------------------------- hand-written text
LANGS = {
    "en": [
        "The quick brown fox jumps over the lazy dog.",
        "Llama 3.1 supports eight languages and a context of 128K tokens.",
        "She said, \"It's not what you think,\" and walked away.",
        "Don't panic! We'll fix it by Monday, won't we?",
        "In 1969, Apollo 11 landed on the Moon; 600 million people watched.",
        "Email me at jane.doe@example.com or call +1 (555) 010-9999.",
        "The U.S.A. isn't the only country with 50 states... or is it?",
        "Price: $1,299.99 (incl. 20% VAT) -- limited offer!!!",
    ],
    "de": [
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        "Grüße aus München! Wie geht's dir heute?",
        "Die Donaudampfschifffahrtsgesellschaftskapitänsmütze ist weiß.",
        "Straße, Maß, Fußgängerübergang und Äpfel, Öl, Übermut.",
        "Am 3. Oktober 1990 wurde Deutschland wiedervereinigt.",
        "Könnten Sie mir bitte sagen, wo der Bahnhof ist?",
    ],
    "fr": [
        "Le cœur a ses raisons que la raison ne connaît point.",
        "L'été dernier, nous sommes allés à Besançon et à Noël, à Paris.",
        "Qu'est-ce que c'est ? C'est l'œuvre d'un garçon très âgé.",
        "« Bonjour », dit-il — puis il s'en alla, déçu.",
        "Il était une fois, dans un château français, une princesse.",
        "Ça coûte 12,50 € ; c'est à peu près 13 $.",
    ],
    "it": [
        "Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura.",
        "Perché non vieni con noi? È già tardi, però.",
        "L'Italia è una repubblica democratica, fondata sul lavoro.",
        "Città, università, più, può, così: accenti gravi e acuti.",
        "Ho mangiato un'ottima pizza margherita a Napoli.",
    ],
    "pt": [
        "O rato roeu a roupa do rei de Roma.",
        "Não sei se você já ouviu falar da canção 'Garota de Ipanema'.",
        "A educação é a arma mais poderosa para mudar o mundo.",
        "Coração, ação, pão, mãe, avô, avó e açúcar.",
        "São Paulo tem mais de 12 milhões de habitantes.",
    ],
    "es": [
        "En un lugar de la Mancha, de cuyo nombre no quiero acordarme...",
        "¿Dónde está la biblioteca? ¡No lo sé!",
        "El niño comió piña, jalapeños y ñoquis en el año 2023.",
        "Mañana iré a Señor Muñoz's tienda, ¿vienes?",
        "La cigüeña y el pingüino viven en lugares muy distintos.",
    ],
    "hi": [
        "नमस्ते, आप कैसे हैं?",
        "भारत एक विशाल और विविधतापूर्ण देश है।",
        "मुझे हिंदी सीखना बहुत पसंद है।",
        "दिल्ली भारत की राजधानी है, और इसकी जनसंख्या ३ करोड़ से अधिक है।",
        "क्या आप मेरी मदद कर सकते हैं? धन्यवाद!",
        "संस्कृत भाषा में 'सत्यमेव जयते' का अर्थ है सत्य की ही जीत होती है।",
    ],
    "th": [
        "สวัสดีครับ คุณสบายดีไหม",
        "ประเทศไทยมีประชากรประมาณ ๖๖ ล้านคน",
        "ฉันชอบกินข้าวเหนียวมะม่วงมาก",
        "กรุงเทพมหานคร อมรรัตนโกสินทร์ มหินทรายุธยา",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    ],
    "zh": [
        "我爱北京天安门，天安门上太阳升。",
        "今天天气很好，我们去公园散步吧！",
        "人工智能正在改变世界。",
        "學而時習之，不亦說乎？有朋自遠方來，不亦樂乎？",
        "这个模型有80亿个参数，支持128K上下文。",
        "《红楼梦》是中国古典四大名著之一。",
    ],
    "ja": [
        "日本語のテキスト",
        "吾輩は猫である。名前はまだ無い。",
        "東京タワーは３３３メートルです。",
        "ひらがな、カタカナ、そして漢字を使います。",
        "ｶﾀｶﾅの半角文字とＡＢＣ全角英字も混ざります。",
        "お疲れ様でした！また明日〜",
    ],
    "ko": [
        "안녕하세요, 만나서 반갑습니다.",
        "대한민국의 수도는 서울입니다.",
        "한글은 1443년에 세종대왕이 창제했습니다.",
        "오늘 날씨가 정말 좋네요! 산책하러 갈까요?",
        "저는 김치찌개를 아주 좋아해요.",
    ],
    "ru": [
        "Привет, мир",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "Москва — столица России, её население около 13 млн человек.",
        "Я помню чудное мгновенье: передо мной явилась ты.",
        "В 2024 году ИИ-модели стали ещё больше.",
    ],
    "ar": [
        "مرحبا بالعالم",
        "اللغة العربية هي لغة القرآن الكريم.",
        "أين تقع المكتبة؟ إنها بجانب المسجد.",
        "عدد سكان مصر حوالي ١٠٥ مليون نسمة.",
        "السَّلَامُ عَلَيْكُمْ وَرَحْمَةُ اللهِ وَبَرَكَاتُهُ",
    ],
    "he": [
        "שלום עולם",
        "ירושלים היא בירת ישראל.",
        "אני אוהב ללמוד שפות חדשות.",
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
        "המחיר הוא 250 ₪ כולל מע\"מ.",
    ],
}

CODE = {
    "python": "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nif __name__ == '__main__':\n    print(f\"{fib(30)=}\")\n",
    "cpp": "#include <vector>\n\ntemplate <typename T>\nT sum(const std::vector<T>& v) {\n\tT s{};\n\tfor (const auto& x : v) s += x;  // O(n)\n\treturn s;\n}\n\nint main() { return sum<int>({1, 2, 3}) == 6 ? 0 : 1; }\n",
    "javascript": "const add = (a, b) => a + b;\nexport async function main() {\n  const res = await fetch(`https://example.com/api?q=${encodeURIComponent('x y')}`);\n  if (!res.ok) throw new Error('HTTP ' + res.status);\n  return [...(await res.json())].map((x) => x?.id ?? null);\n}\n",
    "rust": "fn main() {\n    let v: Vec<u32> = (0..10).filter(|x| x % 2 == 0).collect();\n    println!(\"{:?}\", v);\n    let s = String::from(\"héllo\");\n    match s.len() { 0 => {}, n => eprintln!(\"len={n}\") }\n}\n",
    "go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Printf(\"%d\\n\", <-ch)\n}\n",
    "java": "public class Hello {\n    public static void main(String[] args) {\n        System.out.println(\"Hello, World!\");\n        int[] xs = {3, 1, 2};\n        java.util.Arrays.sort(xs);\n    }\n}\n",
    "sql": "SELECT u.id, COUNT(*) AS n\nFROM users u\nJOIN orders o ON o.user_id = u.id\nWHERE o.created_at >= '2024-01-01'\nGROUP BY u.id\nHAVING n > 10\nORDER BY n DESC;\n",
    "bash": "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l \"$f\" | awk '{print $1}' >> counts.log 2>&1\ndone\necho \"done: $(date +%s)\"\n",
    "html": "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Test &amp; more</title></head>\n<body>\n  <p class=\"x\">Hello&nbsp;world</p>\n</body>\n</html>\n",
    "json": "{\n  \"name\": \"herd\",\n  \"version\": \"0.1.0\",\n  \"tags\": [\"llama\", \"c++20\"],\n  \"n\": 1.5e-3,\n  \"ok\": true\n}\n",
    "c_win": "int main(void)\r\n{\r\n\tprintf(\"hi\\r\\n\");\r\n\treturn 0;\r\n}\r\n",
    "regex": "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@\\w+$",
    "latex": "\\begin{equation}\n  E = mc^2 \\quad \\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}\n\\end{equation}\n",
    "markdown": "# Title\n\n- item **bold** and _it_\n- [link](http://a.b/c?d=e&f=g)\n\n```py\nprint('x')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
}

EMOJI = [
    "😀", "😂", "🥲", "🤖", "🦙", "🚀", "❤️", "❤", "✨", "🔥", "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿",
    "👋🏽", "🧑🏾‍💻", "👩‍👩‍👧‍👦", "👨‍👩‍👧", "👨‍❤️‍👨", "🏳️‍🌈", "🏳️‍⚧️", "🏴‍☠️", "🐻‍❄️", "❤️‍🔥",
    "🇺🇸", "🇫🇷", "🇯🇵", "🇩🇪", "🇮🇳", "🇹🇭", "🇧🇷", "🇪🇸", "🇮🇹", "🇺🇳",
    "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "*️⃣", "©️", "™️", "↔️", "🫠", "🫶🏿",
    "👁️‍🗨️", "🧔‍♂️", "🤷‍♀️", "🙋🏻‍♂️", "🚣🏼‍♀️",
]

SPECIAL_TEXT = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>",
    "<|reserved_special_token_0|>", "<|reserved_special_token_2|>",
    "<|reserved_special_token_247|>", "<|reserved_special_token_250|>", "<|step_id|>",
    "<|image|>", "<|endoftext|>", "<s>", "</s>", "[INST]", "<<SYS>>",
]

CONTRACTION_WORDS = ["it", "IT", "don", "DON", "you", "YOU", "we", "They", "I", "she", "O",
                     "rock n", "Bob", "Ünal", "Ñ", "1990", "x", ""]
CONTRACTION_SUFFIXES = ["s", "t", "re", "ve", "m", "ll", "d"]


def case_variants(s):
    """Every upper/lower combination of a short suffix ('re -> re rE Re RE)."""
    out = [""]
    for ch in s:
        out = [p + c for p in out for c in sorted({ch.lower(), ch.upper()})]
    return out


# ---------------------------------------------------------------- generated text
def stable(cp):
    """True if cp is assigned in Unicode 3.2 with the same L/N/other class as now."""
    ch = chr(cp)
    old = unicodedata.ucd_3_2_0.category(ch)
    new = unicodedata.category(ch)
    return old[0] == new[0] and old[0] in "LNMPSZ"  # C* (control, format, unassigned) never


def chars(pred, lo=0x20, hi=0x30000):
    return [chr(c) for c in range(lo, hi) if not (0xD800 <= c < 0xE000) and pred(c)]


# The White_Space property (PropList.txt) plus look-alikes that are not White_Space.
# Left out on purpose: U+0085 NEL (White_Space, so \s for Meta's Rust regex, but not \s in
# ECMAScript) and U+FEFF ZWNBSP (not White_Space, but \s in ECMAScript). Both JS peers
# inherit JavaScript's \s there, so those two code points are checked against a table of
# expected ids in tests/e2e/test_tokenizer_peers.sh instead of against the peers.
WHITESPACE = ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\xa0", "\u1680"] + \
    [chr(c) for c in range(0x2000, 0x200B)] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_WHITESPACE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u180e"]


def gen_languages():
    lines = []
    for lang in sorted(LANGS):
        sents = LANGS[lang]
        for s in sents:
            lines += [s, " " + s, s + "\n", s.upper(), s.lower(), s.title(), s + "   ",
                      "\t" + s, s.replace(" ", "  "), s.replace(" ", "\n"),
                      unicodedata.normalize("NFD", s), unicodedata.normalize("NFKC", s)]
        lines.append(" ".join(sents))
        lines.append("\n".join(sents) + "\n")
        lines.append("\r\n".join(sents))
        lines.append("\n\n".join(sents))
    # Mixed-language paragraphs: each language's first sentence after another's.
    keys = sorted(LANGS)
    for i, a in enumerate(keys):
        b = keys[(i + 5) % len(keys)]
        lines.append(LANGS[a][0] + " " + LANGS[b][1])
        lines.append(LANGS[a][1] + LANGS[b][0])
    return lines


def gen_code():
    lines = []
    for name in sorted(CODE):
        src = CODE[name]
        lines.append(src)
        lines.append(src.replace("    ", "\t"))
        lines += [l for l in src.split("\n") if l]
        lines.append(src.replace("\n", "\r\n"))
    return lines


def gen_emoji():
    lines = list(EMOJI)
    lines.append("".join(EMOJI))
    lines.append(" ".join(EMOJI))
    for i, e in enumerate(EMOJI):
        lines += ["I love it " + e, e + "!!", "word" + e + "word", e * 3, "  " + e + "  ",
                  e + "\n" + EMOJI[(i + 1) % len(EMOJI)], "123" + e + "456"]
    # Skin tones alone, regional indicators alone and unpaired, variation selectors.
    lines += ["\U0001F3FB\U0001F3FC\U0001F3FD", "🇺", "🇺🇸🇫", "a\ufe0fb", "☺\ufe0e ☺\ufe0f",
              "\u200d\u200d", "👨\u200d", "\u200d👩"]
    return lines


def gen_marks():
    lines = []
    marks = chars(lambda c: stable(c) and unicodedata.category(chr(c)) in ("Mn", "Mc", "Me"),
                  0x300, 0x2000)
    bases = ["a", "A", "z", "1", " ", "-", "α", "я", "ก", "क", "ب", "日"]
    for i, m in enumerate(marks):
        lines.append(bases[i % len(bases)] + m + "x " + m + m)
    lines.append("".join(marks[:200]))
    # Precomposed letters in NFC and NFD (and NFKD for compatibility characters).
    composed = chars(lambda c: stable(c) and unicodedata.category(chr(c))[0] == "L"
                     and unicodedata.normalize("NFD", chr(c)) != chr(c), 0xC0, 0x2000)
    for i in range(0, len(composed), 12):
        word = "".join(composed[i:i + 12])
        lines.append(word)
        lines.append(unicodedata.normalize("NFD", word))
        lines.append("The word " + unicodedata.normalize("NFD", word) + " again")
    for s in ["café", "naïve", "Ångström", "Tiếng Việt có dấu", "ﬁnancial ﬂow", "ℌ𝔢𝔩𝔩𝔬", "①②③ ㎏ ㍿",
              "한국어 텍스트", "Ελληνικά: ἀλήθεια", "über-Größe"]:
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            lines.append(unicodedata.normalize(form, s))
    # Hangul syllables decompose to conjoining jamo (letters) in NFD.
    syl = "".join(chr(0xAC00 + 587 * k) for k in range(19))
    lines += [syl, unicodedata.normalize("NFD", syl)]
    return lines


def gen_numbers(rng):
    lines = []
    digits = "0123456789"
    for n in range(1, 41):
        lines.append("".join(digits[(k * 7 + n) % 10] for k in range(n)))
        lines.append("x" + "9" * n + "y")
    lines += ["3.14159 and 1,000,000", "1e10 -2.5E-3 0x1F 0b1010 0o777 1_000_000",
              "2024-06-30T12:34:56.789Z", "+49 (0)30 1234567", "v1.2.3-rc.4+build.5",
              "H2O CO2 x86_64 i18n l10n 1st 2nd 3rd 4th", "abc123def4567ghi", "١٢٣٤٥٦٧٨٩٠",
              "०१२३४५६७८९", "๐๑๒๓๔๕๖๗๘๙", "０１２３４５６７８９", "²³¹ ½ ¼ ¾ ⅓ ⅔", "Ⅰ Ⅱ Ⅻ ⅽ ↂ", "①②③⑳",
              "〇一二三", "Tokyo東京2024年", "Москва2024abc", "مرحبا123", "שלום42", "β2γ3δ44",
              "3.14🙂2.71", "10%-20%", "$5.00/€4.60/¥700/₹420"]
    # Every decimal digit set (Nd) from unicodedata, in runs of 1..7.
    nd = chars(lambda c: stable(c) and unicodedata.category(chr(c)) == "Nd")
    for i in range(0, len(nd), 10):
        block = "".join(nd[i:i + 10])
        lines.append(block)
        lines.append(block[:rng.randint(1, 7)] + " " + block[3:] + "x")
    other_n = chars(lambda c: stable(c) and unicodedata.category(chr(c)) in ("No", "Nl"))
    for i in range(0, len(other_n), 9):
        lines.append("".join(other_n[i:i + 9]) + "a" + other_n[i])
    return lines


def gen_whitespace():
    lines = []
    for w in WHITESPACE + NOT_WHITESPACE:
        for pat in ["a{w}b", "{w}a", "a{w}", "{w}", "{w}{w}", "a{w}{w}b", "a {w}b", "a{w} b",
                    "{w}\n", "\n{w}", "a{w}\nb", "a{w}\r\n", "{w}{w}{w}!", "x {w}{w} y", "1{w}2",
                    "'s{w}'t", "{w}'re", "a{w}\u00e9", "日{w}本", "{w}😀"]:
            lines.append(pat.replace("{w}", w))
    for n in (1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 255, 256, 300):
        lines += [" " * n, " " * n + "x", "x" + " " * n, "x" + " " * n + "y", "\t" * n + "x",
                  "\n" * n, "\r\n" * n, " " * n + "\n", "\n" + " " * n, "a\n" + " " * n + "b"]
    lines += ["line1\nline2\r\n\r\nline3", "tabs\tand\t\tmore", "a\rb", "a\r\rb", "\r", "\r\n",
              "\n\r", "a \r\n b", "  \n  \n  ", "\t\n\t\n", "x\u00a0\u00a0\u00a0y",
              "全角\u3000スペース\u3000\u3000です", "end with nbsp\u00a0", "\u3000\u3000indent",
              "mixed \t \u00a0 \u3000 \u2003 \n end", "trailing   ", "  leading spaces",
              "a\x0b\x0cb", "\x0c\n", "a  \n\n  b", "\n\n\n", "\r\r\r", " \r \n \r\n "]
    return lines


def gen_contractions():
    lines = []
    for w in CONTRACTION_WORDS:
        for suf in CONTRACTION_SUFFIXES:
            for v in case_variants(suf):
                lines.append(w + "'" + v)
        lines.append(" ".join(w + "'" + s.upper() for s in CONTRACTION_SUFFIXES))
    lines += ["I'm sure you're right, it's 'quoted'", "IT'S JOHN'S DOG'S BONE", "we'Ve", "'S 'T 'Re 'LL",
              "''s ''t '''re", "'s's's", "don't'll've", "rock'n'roll", "the '90s", "O'Neil's",
              "it’s (U+2019 is not an apostrophe)", "it`s", "'", "''", "' s", "'x", "'\n's",
              "l'homme d'État", "dell'anno", "'sa 'ta 'rea 'vex 'mm 'lll 'dd", "'S1 'T_ 'RE-"]
    return lines


def gen_specials():
    lines = []
    for s in SPECIAL_TEXT:
        lines += [s, " " + s, s + "\n", "x" + s + "y", s + s, s[:-1], s[1:], s.upper(),
                  "Hello" + s + " world"]
    lines.append("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a "
                 "helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!"
                 "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    lines += ["<|", "|>", "<||>", "<|<|eot_id|>|>", "< |eot_id| >", "<|eot_id |>", "system", "user",
              "assistant", "ipython", "\n\n", "\n", " ", "  ", "\t", "safe", "unsafe"]
    return lines


def gen_random(rng, n_lines):
    """Random mixtures of every class the pre-tokenizer distinguishes."""
    letters = chars(lambda c: stable(c) and unicodedata.category(chr(c))[0] == "L", 0x41, 0x3100)
    numbers = chars(lambda c: stable(c) and unicodedata.category(chr(c))[0] == "N", 0x30, 0x3100)
    marks = chars(lambda c: stable(c) and unicodedata.category(chr(c))[0] == "M", 0x300, 0x3100)
    punct = chars(lambda c: stable(c) and unicodedata.category(chr(c))[0] in "PS", 0x21, 0x3100)
    ascii_l = [chr(c) for c in range(0x41, 0x5B)] + [chr(c) for c in range(0x61, 0x7B)]
    pools = [
        (ascii_l, 30), (letters, 10), (list("0123456789"), 10), (numbers, 3), (marks, 3),
        (list(" "), 20), (WHITESPACE, 5), (NOT_WHITESPACE, 1), (list("'"), 6),
        (list("sStTrReEvVmMlLdD"), 6), (list(".,;:!?-_()[]{}<|>\"/\\@#$%^&*+=~`"), 10),
        (punct, 3), (EMOJI, 3), (["\r\n", "\n", "\r"], 4), (["<|eot_id|>", "<|"], 1),
    ]
    weights = [w for _, w in pools]
    lines = []
    for _ in range(n_lines):
        n = rng.choice((1, 2, 3, 5, 8, 13, 21, 40, 80))
        pieces = []
        for _ in range(n):
            pool = rng.choices(pools, weights)[0][0]
            pieces.append(rng.choice(pool))
        lines.append("".join(pieces))
    return lines


def main():
    if sys.version_info < (3, 8):
        sys.exit("make_corpus.py needs Python 3.8+")
    rng = random.Random(20240723)  # Llama 3.1 release date
    parts = {
        "languages": gen_languages(),
        "code": gen_code(),
        "emoji": gen_emoji(),
        "marks": gen_marks(),
        "numbers": gen_numbers(rng),
        "whitespace": gen_whitespace(),
        "contractions": gen_contractions(),
        "specials": gen_specials(),
        "random": gen_random(rng, 2500),
    }
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for name, lines in parts.items():
        seen, uniq = set(), []
        for s in lines:
            if s not in seen:
                seen.add(s)
                uniq.append(s)
        data = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in uniq)
        with open(os.path.join(OUT, name + ".jsonl"), "w", encoding="utf-8", newline="\n") as f:
            f.write(data)
        total += len(data.encode("utf-8"))
        print(f"{name}.jsonl: {len(uniq)} lines")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
