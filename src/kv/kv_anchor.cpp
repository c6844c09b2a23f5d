// placeholder so the layer library is not empty
namespace herd { void kv_layer_anchor() {} }
