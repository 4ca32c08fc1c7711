#include "MessageSchemaTest.h"
