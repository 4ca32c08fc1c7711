// Identity.cpp
