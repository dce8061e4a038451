/* being written */
#include "config.h"

#include "format.h"
