// placeholder so the layer library is not empty
namespace herd { void formats_layer_anchor() {} }
