// placeholder so the layer library is not empty
namespace herd { void sampling_layer_anchor() {} }
