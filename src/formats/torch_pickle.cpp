// The restricted unpickler: a stack machine over an allow-list of opcodes and
// globals (torch_pickle.h). Objects are reference-counted because the memo
// shares them; the rules that keep that safe (depth cap, no mutable container
// inside another) are enforced where objects are put together.
#include "formats/torch_pickle.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "base/checked_math.h"

namespace herd::formats {

namespace {

constexpr TorchStorageInfo kStorages[] = {
    {TorchStorageType::kFloat, "FloatStorage", "float32", 4, DType::kF32},
    {TorchStorageType::kHalf, "HalfStorage", "float16", 2, DType::kF16},
    {TorchStorageType::kBFloat16, "BFloat16Storage", "bfloat16", 2, DType::kBF16},
    {TorchStorageType::kDouble, "DoubleStorage", "float64", 8, std::nullopt},
    {TorchStorageType::kByte, "ByteStorage", "uint8", 1, std::nullopt},
    {TorchStorageType::kChar, "CharStorage", "int8", 1, std::nullopt},
    {TorchStorageType::kShort, "ShortStorage", "int16", 2, std::nullopt},
    {TorchStorageType::kInt, "IntStorage", "int32", 4, std::nullopt},
    {TorchStorageType::kLong, "LongStorage", "int64", 8, std::nullopt},
    {TorchStorageType::kBool, "BoolStorage", "bool", 1, std::nullopt},
    // e4m3 without a row scale is not a dtype herd computes with; the FP8
    // loaders pair it with its scales.
    {TorchStorageType::kFloat8E4M3fn, "Float8_e4m3fnStorage", "float8_e4m3fn", 1, DType::kF8_E4M3},
    {TorchStorageType::kFloat8E5M2, "Float8_e5m2Storage", "float8_e5m2", 1, std::nullopt},
};

constexpr size_t kMaxStack = 1u << 20;  // stack entries, memo entries, marks
constexpr int kMaxDepth = 32;           // a state dict nests 4 deep

enum class Kind : uint8_t { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
enum class Global : uint8_t { kOrderedDict, kRebuildTensorV2, kRebuildParameter, kStorageType };

struct Obj;
using Ref = std::shared_ptr<Obj>;
struct Obj {
  Kind kind = Kind::kNone;
  int64_t i = 0;      // int, bool; kStorage/kTensor: the index of the record
  double f = 0;
  std::string s;
  std::vector<Ref> items;  // tuple, list; dict: key, value, key, value ...
  Global global = Global::kOrderedDict;
  TorchStorageType storage_type = TorchStorageType::kFloat;
  int depth = 1;
  bool holds_mutable = false;  // a list or dict, or a tuple with one inside
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "a bool";
    case Kind::kInt: return "an int";
    case Kind::kFloat: return "a float";
    case Kind::kStr: return "a string";
    case Kind::kTuple: return "a tuple";
    case Kind::kList: return "a list";
    case Kind::kDict: return "a dict";
    case Kind::kGlobal: return "a global";
    case Kind::kStorage: return "a storage";
    case Kind::kTensor: return "a tensor";
  }
  return "?";
}

struct TensorRec {
  size_t storage;
  uint64_t offset;
  std::vector<int64_t> shape, stride;
};

class Machine {
 public:
  Machine(const uint8_t* d, size_t n, std::string_view source) : d_(d), n_(n), src_(source) {}

  Result<PickledStateDict> run();

 private:
  Error fail(ErrorCode code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  bool need(uint64_t k) const { return k <= n_ - pc_; }
  uint64_t le(int k) {
    uint64_t v = 0;
    for (int b = k - 1; b >= 0; --b) v = v << 8 | d_[pc_ + static_cast<size_t>(b)];
    pc_ += static_cast<size_t>(k);
    return v;
  }
  Ref make(Kind k) {
    Ref r = std::make_shared<Obj>();
    r->kind = k;
    r->holds_mutable = k == Kind::kList || k == Kind::kDict;
    return r;
  }
  Status push(Ref r) {
    if (stack_.size() >= kMaxStack) return fail(ErrorCode::kOutOfRange, "the stack exceeds %zu entries", kMaxStack);
    stack_.push_back(std::move(r));
    return {};
  }
  Result<Ref> pop() {
    if (stack_.size() <= floor()) return fail(ErrorCode::kCorrupt, "pops an empty stack");
    Ref r = std::move(stack_.back());
    stack_.pop_back();
    return r;
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // The items above the last MARK, which is removed.
  Result<std::vector<Ref>> pop_mark() {
    if (marks_.empty()) return fail(ErrorCode::kCorrupt, "needs a MARK and there is none");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> v(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                       std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return v;
  }
  Result<Ref> tuple(std::vector<Ref> items) {
    Ref t = make(Kind::kTuple);
    for (const Ref& x : items) {
      t->depth = std::max(t->depth, x->depth + 1);
      t->holds_mutable = t->holds_mutable || x->holds_mutable;
    }
    if (t->depth > kMaxDepth) return fail(ErrorCode::kOutOfRange, "nests deeper than %d levels", kMaxDepth);
    t->items = std::move(items);
    return t;
  }
  // Puts `x` into the list or dict `c`.
  Status add_to(Obj& c, const Ref& x) {
    if (x->holds_mutable)
      return fail(ErrorCode::kUnsupported, "puts a list or dict inside %s (a state dict never does)", kind_name(c.kind));
    if (x->depth + 1 > kMaxDepth) return fail(ErrorCode::kOutOfRange, "nests deeper than %d levels", kMaxDepth);
    c.depth = std::max(c.depth, x->depth + 1);
    c.items.push_back(x);
    return {};
  }
  Status memo_put(uint64_t idx) {
    if (stack_.size() <= floor()) return fail(ErrorCode::kCorrupt, "memoizes from an empty stack");
    if (memo_.size() >= kMaxStack && !memo_.count(idx))
      return fail(ErrorCode::kOutOfRange, "the memo exceeds %zu entries", kMaxStack);
    memo_[idx] = stack_.back();
    return {};
  }
  Status memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) return fail(ErrorCode::kCorrupt, "reads memo entry %llu, which was never stored",
                                       static_cast<unsigned long long>(idx));
    return push(it->second);
  }
  Status global(std::string_view module, std::string_view name);
  Status reduce();
  Status persistent_id();
  Result<std::vector<int64_t>> int_tuple(const Ref& r, const char* what);

  const uint8_t* d_;
  size_t n_;
  std::string src_;
  size_t pc_ = 0;
  size_t op_at_ = 0;  // where the current opcode starts
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Ref> memo_;
  PickledStateDict out_;
  std::map<std::string, size_t, std::less<>> storage_by_key_;
  std::vector<TensorRec> tensors_;
};

Error Machine::fail(ErrorCode code, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return err(code, "%s: the pickle at byte %zu %s", src_.c_str(), op_at_, buf);
}

Status Machine::global(std::string_view module, std::string_view name) {
  Ref g = make(Kind::kGlobal);
  if (module == "collections" && name == "OrderedDict") {
    g->global = Global::kOrderedDict;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    g->global = Global::kRebuildTensorV2;
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    g->global = Global::kRebuildParameter;
  } else {
    bool found = false;
    if (module == "torch")
      for (const TorchStorageInfo& s : kStorages)
        if (name == s.name) {
          g->global = Global::kStorageType;
          g->storage_type = s.type;
          found = true;
        }
    if (!found)
      return fail(ErrorCode::kUnsupported,
                  "names the global '%.*s.%.*s', which herd does not allow (a PyTorch checkpoint needs only "
                  "torch._utils._rebuild_tensor_v2, collections.OrderedDict and torch.*Storage); nothing was run",
                  static_cast<int>(std::min<size_t>(module.size(), 100)), module.data(),
                  static_cast<int>(std::min<size_t>(name.size(), 100)), name.data());
  }
  return push(std::move(g));
}

Result<std::vector<int64_t>> Machine::int_tuple(const Ref& r, const char* what) {
  if (r->kind != Kind::kTuple) return fail(ErrorCode::kCorrupt, "gives %s as %s, not a tuple", what, kind_name(r->kind));
  std::vector<int64_t> v;
  for (const Ref& x : r->items) {
    if (x->kind != Kind::kInt || x->i < 0)
      return fail(ErrorCode::kCorrupt, "gives %s with an element that is not a non-negative int", what);
    v.push_back(x->i);
  }
  return v;
}

Status Machine::reduce() {
  HERD_ASSIGN_OR_RETURN(Ref args, pop());
  HERD_ASSIGN_OR_RETURN(Ref fn, pop());
  if (fn->kind != Kind::kGlobal || fn->global == Global::kStorageType)
    return fail(ErrorCode::kUnsupported, "calls %s, which herd does not allow", kind_name(fn->kind));
  if (args->kind != Kind::kTuple) return fail(ErrorCode::kCorrupt, "calls with %s as the arguments", kind_name(args->kind));
  const std::vector<Ref>& a = args->items;
  if (fn->global == Global::kOrderedDict) {
    if (!a.empty()) return fail(ErrorCode::kUnsupported, "calls OrderedDict with arguments");
    return push(make(Kind::kDict));
  }
  if (fn->global == Global::kRebuildParameter) {
    if (a.size() != 3 || a[0]->kind != Kind::kTensor)
      return fail(ErrorCode::kCorrupt, "calls _rebuild_parameter without (tensor, requires_grad, hooks)");
    return push(a[0]);
  }
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::kStorage || a[1]->kind != Kind::kInt || a[1]->i < 0 ||
      a[4]->kind != Kind::kBool)
    return fail(ErrorCode::kCorrupt,
                "calls _rebuild_tensor_v2 without (storage, offset, size, stride, requires_grad, hooks)");
  if ((a[5]->kind != Kind::kDict || !a[5]->items.empty()) ||
      (a.size() == 7 && a[6]->kind != Kind::kNone && !(a[6]->kind == Kind::kDict && a[6]->items.empty())))
    return fail(ErrorCode::kUnsupported, "rebuilds a tensor with backward hooks or metadata");
  TensorRec t;
  t.storage = static_cast<size_t>(a[0]->i);
  t.offset = static_cast<uint64_t>(a[1]->i);
  HERD_ASSIGN_OR_RETURN(t.shape, int_tuple(a[2], "a tensor's size"));
  HERD_ASSIGN_OR_RETURN(t.stride, int_tuple(a[3], "a tensor's stride"));
  if (t.shape.size() != t.stride.size())
    return fail(ErrorCode::kCorrupt, "gives a tensor %zu sizes but %zu strides", t.shape.size(), t.stride.size());
  if (tensors_.size() >= kMaxStack) return fail(ErrorCode::kOutOfRange, "rebuilds over %zu tensors", kMaxStack);
  Ref r = make(Kind::kTensor);
  r->i = static_cast<int64_t>(tensors_.size());
  tensors_.push_back(std::move(t));
  return push(std::move(r));
}

Status Machine::persistent_id() {
  HERD_ASSIGN_OR_RETURN(Ref pid, pop());
  const std::vector<Ref>& a = pid->items;
  if (pid->kind != Kind::kTuple || a.size() != 5 || a[0]->kind != Kind::kStr || a[0]->s != "storage" ||
      a[1]->kind != Kind::kGlobal || a[1]->global != Global::kStorageType || a[2]->kind != Kind::kStr ||
      a[3]->kind != Kind::kStr || a[4]->kind != Kind::kInt || a[4]->i < 0)
    return fail(ErrorCode::kUnsupported,
                "has a persistent id that is not ('storage', torch.<Type>Storage, key, location, numel)");
  auto [it, fresh] = storage_by_key_.emplace(a[2]->s, out_.storages.size());
  if (fresh) {
    if (out_.storages.size() >= kMaxStack) return fail(ErrorCode::kOutOfRange, "names over %zu storages", kMaxStack);
    out_.storages.push_back({a[2]->s, a[1]->storage_type, a[3]->s, static_cast<uint64_t>(a[4]->i)});
  } else {
    const PickledStorage& s = out_.storages[it->second];
    if (s.type != a[1]->storage_type || s.numel != static_cast<uint64_t>(a[4]->i))
      return fail(ErrorCode::kCorrupt, "names storage '%s' twice with different types or sizes", s.key.c_str());
  }
  Ref r = make(Kind::kStorage);
  r->i = static_cast<int64_t>(it->second);
  return push(std::move(r));
}

Result<PickledStateDict> Machine::run() {
  if (n_ > kMaxPickleBytes)
    return err(ErrorCode::kOutOfRange, "%s: the pickle is %zu bytes (herd reads at most %llu)", src_.c_str(), n_,
               static_cast<unsigned long long>(kMaxPickleBytes));
  for (;;) {
    op_at_ = pc_;
    if (!need(1)) return fail(ErrorCode::kCorrupt, "ends without STOP");
    const uint8_t op = d_[pc_++];
    auto arg = [&](uint64_t k) -> Status {
      if (!need(k)) return fail(ErrorCode::kCorrupt, "ends inside opcode 0x%02x's argument", op);
      return {};
    };
    auto string_op = [&](int len_bytes) -> Status {
      HERD_TRY(arg(static_cast<uint64_t>(len_bytes)));
      const uint64_t len = le(len_bytes);
      HERD_TRY(arg(len));
      Ref s = make(Kind::kStr);
      s->s.assign(reinterpret_cast<const char*>(d_ + pc_), static_cast<size_t>(len));
      pc_ += static_cast<size_t>(len);
      return push(std::move(s));
    };
    auto int_op = [&](int k, bool is_signed) -> Status {
      HERD_TRY(arg(static_cast<uint64_t>(k)));
      uint64_t v = le(k);
      if (is_signed && k < 8 && (v >> (8 * k - 1)) & 1) v |= ~uint64_t{0} << (8 * k);
      Ref r = make(Kind::kInt);
      r->i = static_cast<int64_t>(v);
      return push(std::move(r));
    };
    switch (op) {
      case 0x80:  // PROTO
        HERD_TRY(arg(1));
        if (d_[pc_] > 5) return fail(ErrorCode::kUnsupported, "is pickle protocol %d", d_[pc_]);
        ++pc_;
        break;
      case 0x95:  // FRAME (protocol 4): a length hint only
        HERD_TRY(arg(8));
        pc_ += 8;
        break;
      case '.': {  // STOP
        HERD_ASSIGN_OR_RETURN(Ref root, pop());
        if (root->kind != Kind::kDict)
          return fail(ErrorCode::kUnsupported, "holds %s, not a state dict (a dict of name -> tensor)", kind_name(root->kind));
        for (size_t k = 0; k < root->items.size(); k += 2) {
          const Ref& key = root->items[k];
          const Ref& val = root->items[k + 1];
          if (key->kind != Kind::kStr || val->kind != Kind::kTensor)
            return fail(ErrorCode::kUnsupported, "holds a state-dict entry of %s -> %s, not name -> tensor",
                        kind_name(key->kind), kind_name(val->kind));
          const TensorRec& t = tensors_[static_cast<size_t>(val->i)];
          out_.tensors.push_back({key->s, t.storage, t.offset, t.shape, t.stride});
        }
        return std::move(out_);
      }
      case '(':  // MARK
        if (marks_.size() >= kMaxStack) return fail(ErrorCode::kOutOfRange, "sets over %zu marks", kMaxStack);
        marks_.push_back(stack_.size());
        break;
      case '}': HERD_TRY(push(make(Kind::kDict))); break;   // EMPTY_DICT
      case ']': HERD_TRY(push(make(Kind::kList))); break;   // EMPTY_LIST
      case ')': {                                           // EMPTY_TUPLE
        HERD_ASSIGN_OR_RETURN(Ref t, tuple({}));
        HERD_TRY(push(std::move(t)));
        break;
      }
      case 'N': HERD_TRY(push(make(Kind::kNone))); break;  // NONE
      case 0x88:                                            // NEWTRUE
      case 0x89: {                                          // NEWFALSE
        Ref b = make(Kind::kBool);
        b->i = op == 0x88;
        HERD_TRY(push(std::move(b)));
        break;
      }
      case 'K': HERD_TRY(int_op(1, false)); break;  // BININT1
      case 'M': HERD_TRY(int_op(2, false)); break;  // BININT2
      case 'J': HERD_TRY(int_op(4, true)); break;   // BININT
      case 0x8a: {                                  // LONG1: n bytes, two's complement
        HERD_TRY(arg(1));
        const int k = d_[pc_++];
        if (k > 8) return fail(ErrorCode::kUnsupported, "holds a %d-byte integer", k);
        if (k == 0) {
          Ref r = make(Kind::kInt);
          HERD_TRY(push(std::move(r)));
        } else {
          HERD_TRY(int_op(k, true));
        }
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        HERD_TRY(arg(8));
        uint64_t bits = 0;
        for (int b = 0; b < 8; ++b) bits = bits << 8 | d_[pc_++];
        Ref f = make(Kind::kFloat);
        std::memcpy(&f->f, &bits, 8);
        HERD_TRY(push(std::move(f)));
        break;
      }
      case 'X': HERD_TRY(string_op(4)); break;     // BINUNICODE
      case 0x8c: HERD_TRY(string_op(1)); break;    // SHORT_BINUNICODE
      case 0x8d: HERD_TRY(string_op(8)); break;    // BINUNICODE8
      case 'q':                                    // BINPUT
        HERD_TRY(arg(1));
        HERD_TRY(memo_put(le(1)));
        break;
      case 'r':  // LONG_BINPUT
        HERD_TRY(arg(4));
        HERD_TRY(memo_put(le(4)));
        break;
      case 0x94: HERD_TRY(memo_put(memo_.size())); break;  // MEMOIZE
      case 'h':                                             // BINGET
        HERD_TRY(arg(1));
        HERD_TRY(memo_get(le(1)));
        break;
      case 'j':  // LONG_BINGET
        HERD_TRY(arg(4));
        HERD_TRY(memo_get(le(4)));
        break;
      case 't': {  // TUPLE
        HERD_ASSIGN_OR_RETURN(std::vector<Ref> items, pop_mark());
        HERD_ASSIGN_OR_RETURN(Ref t, tuple(std::move(items)));
        HERD_TRY(push(std::move(t)));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<Ref> items(static_cast<size_t>(op - 0x84));
        for (size_t k = items.size(); k-- > 0;) {
          HERD_ASSIGN_OR_RETURN(items[k], pop());
        }
        HERD_ASSIGN_OR_RETURN(Ref t, tuple(std::move(items)));
        HERD_TRY(push(std::move(t)));
        break;
      }
      case 'a':    // APPEND
      case 'e': {  // APPENDS
        std::vector<Ref> items;
        if (op == 'a') {
          HERD_ASSIGN_OR_RETURN(Ref x, pop());
          items.push_back(std::move(x));
        } else {
          HERD_ASSIGN_OR_RETURN(items, pop_mark());
        }
        HERD_ASSIGN_OR_RETURN(Ref list, pop());
        if (list->kind != Kind::kList) return fail(ErrorCode::kCorrupt, "appends to %s", kind_name(list->kind));
        for (const Ref& x : items) HERD_TRY(add_to(*list, x));
        HERD_TRY(push(std::move(list)));
        break;
      }
      case 's':    // SETITEM
      case 'u': {  // SETITEMS
        std::vector<Ref> items;
        if (op == 's') {
          HERD_ASSIGN_OR_RETURN(Ref v, pop());
          HERD_ASSIGN_OR_RETURN(Ref k, pop());
          items = {std::move(k), std::move(v)};
        } else {
          HERD_ASSIGN_OR_RETURN(items, pop_mark());
          if (items.size() % 2) return fail(ErrorCode::kCorrupt, "sets an odd number of dict items");
        }
        HERD_ASSIGN_OR_RETURN(Ref dict, pop());
        if (dict->kind != Kind::kDict) return fail(ErrorCode::kCorrupt, "sets items of %s", kind_name(dict->kind));
        for (const Ref& x : items) HERD_TRY(add_to(*dict, x));
        HERD_TRY(push(std::move(dict)));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string_view parts[2];
        for (std::string_view& p : parts) {
          const void* nl = std::memchr(d_ + pc_, '\n', n_ - pc_);
          if (!nl) return fail(ErrorCode::kCorrupt, "has a GLOBAL without its newline");
          const size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (d_ + pc_));
          p = std::string_view(reinterpret_cast<const char*>(d_ + pc_), len);
          pc_ += len + 1;
        }
        HERD_TRY(global(parts[0], parts[1]));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        HERD_ASSIGN_OR_RETURN(Ref name, pop());
        HERD_ASSIGN_OR_RETURN(Ref module, pop());
        if (module->kind != Kind::kStr || name->kind != Kind::kStr)
          return fail(ErrorCode::kCorrupt, "has a STACK_GLOBAL without two strings");
        HERD_TRY(global(module->s, name->s));
        break;
      }
      case 'Q': HERD_TRY(persistent_id()); break;  // BINPERSID
      case 'R': HERD_TRY(reduce()); break;         // REDUCE
      default:
        return fail(ErrorCode::kUnsupported, "has opcode 0x%02x ('%c'), which herd's restricted unpickler does not run",
                    op, op >= 0x20 && op < 0x7f ? op : '?');
    }
  }
}

}  // namespace

const TorchStorageInfo& torch_storage_info(TorchStorageType t) {
  for (const TorchStorageInfo& s : kStorages)
    if (s.type == t) return s;
  return kStorages[0];
}

Result<PickledStateDict> unpickle_state_dict(const uint8_t* data, size_t size, std::string_view source) {
  Machine m(data, size, source);
  return m.run();
}

}  // namespace herd::formats
