#include <blosc.h>
