// placeholder so the layer library is not empty
namespace herd { void model_layer_anchor() {} }
