/* chat_once: answers one question with a Llama 3.1 Instruct model through herd's C API.
 *
 *   chat_once MODEL "question" [max_tokens]
 *
 * Greedy (temperature 0), so the reply is the one `herd run -m MODEL -cnv -p "question"
 * --temp 0` prints. Also shows tokenize/detokenize. Build against an installed herd:
 *   cc chat_once.c $(pkg-config --cflags --libs herd) -o chat_once
 * or with CMake (this folder's CMakeLists.txt, find_package(herd)). */
#include <herd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_piece(const char* piece, size_t len, void* user_data) {
  (void)user_data;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 0; /* go on */
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL \"question\" [max_tokens]\n", argv[0]);
    return 2;
  }
  char err[512];
  herd_model* model = herd_model_load(argv[1], 0, err, sizeof err);
  if (!model) {
    fprintf(stderr, "chat_once: %s\n", err);
    return 1;
  }
  fprintf(stderr, "herd %s (C API %d), model %s, vocabulary %d, trained context %lld\n", herd_version(),
          HERD_API_VERSION, herd_model_name(model), herd_model_vocab_size(model),
          (long long)herd_model_context_length(model));

  /* Tokenize the question and back: the text comes back byte for byte. */
  const size_t len = strlen(argv[2]);
  const int64_t n = herd_tokenize(model, argv[2], len, 0, 0, NULL, 0);
  int32_t* ids = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  char* back = malloc(len + 1);
  if (n < 0 || !ids || !back || herd_tokenize(model, argv[2], len, 0, 0, ids, n) != n ||
      herd_detokenize(model, ids, n, back, len + 1) != (int64_t)len || memcmp(back, argv[2], len) != 0) {
    fprintf(stderr, "chat_once: tokenize round trip failed\n");
    return 1;
  }
  fprintf(stderr, "the question is %lld tokens\n", (long long)n);
  free(back);
  free(ids);

  herd_generate_params params = herd_generate_default_params();
  params.temperature = 0.0f;
  params.max_tokens = argc > 3 ? atoi(argv[3]) : 128;
  const int64_t generated = herd_generate(model, argv[2], &params, print_piece, NULL, err, sizeof err);
  if (generated < 0) {
    fprintf(stderr, "chat_once: %s\n", err);
    herd_model_free(model);
    return 1;
  }
  printf("\n");
  fprintf(stderr, "%lld tokens generated\n", (long long)generated);
  herd_model_free(model);
  return 0;
}
