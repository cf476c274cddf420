/*
 * fuzz_config.c - libFuzzer target for the config parser: any input must
 * end in a config or an error message, without a crash, leak or undefined
 * behaviour.  Built and run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "domicile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dom_config *cfg = NULL;
    int rc = dom_config_parse(&cfg, "fuzz.yaml", (const char *)data, size);
    if (rc == 0 && !cfg)
        __builtin_trap();
    if (rc != 0 && (cfg || !dom_error_last()[0]))
        __builtin_trap();
    dom_config_free(cfg);
    return 0;
}
