// placeholder so the layer library is not empty
namespace herd { void tokenizer_layer_anchor() {} }
