#include "IdentityTest.h"
