// GGUF -> MLX model folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json), optionally
// quantizing as mlx-lm's `convert -q` does: every matrix (linear and embedding) whose input size is a multiple of the
// group size gets MLX affine quantization; the rest, and all 1-D tensors, stay float.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "../gguf.h"
#include "../gguf_writer.h"
#include "safetensors.h"

namespace mlxb {

struct MlxConvertOptions {
    int32_t bits = 0;       // 0: no quantization; else 2, 4 or 8
    int32_t group = 64;     // 32, 64 or 128
    StDtype dtype = StDtype::F16;  // float tensors (F32, F16, BF16); scales/biases are BF16 for BF16, else F16
};

// One source tensor: GGUF name, dims (ne[0] = row length) and a producer of float rows.
struct SourceTensor {
    std::string name;
    std::vector<int64_t> ne;
    GgufWriter::RowFn rows;
};

// meta: the GGUF metadata (hyper-parameters, tokenizer); tensors: by GGUF name. The folder is written under a
// temporary name and renamed into place; out_dir must not exist. Throws Error.
void convert_to_mlx(const GgufFile & meta, const std::vector<SourceTensor> & tensors, const std::string & out_dir,
                    const MlxConvertOptions & opt);
// The tensors of a GGUF file as SourceTensors (rows dequantized from the mapping).
std::vector<SourceTensor> gguf_source_tensors(const GgufFile & f);
// The tensors of a GgufWriter being built (gen-model) as SourceTensors.
std::vector<SourceTensor> writer_source_tensors(const GgufWriter & w);

}  // namespace mlxb
