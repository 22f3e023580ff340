@problemName Bad
@univariate false
@classLabel true a b
@data
1,2,3:4,5:a
